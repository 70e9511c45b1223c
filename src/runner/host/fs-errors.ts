/**
 * Errors of the fs capability as user code sees them: Node-style (`err.code` ENOENT, EISDIR…,
 * message `ENOENT: no such file or directory, open '/data/x'`) and quoting only the paths user
 * code gave — never the real path a symbolic link led to, nor anything else of the host.
 */
import { isMcpv8Error } from '../../core/index.ts';
import { errnoCode, showPath } from './fs-paths.ts';
import { SandboxFacingError } from './host-capability.ts';

const DESCRIPTIONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'illegal operation on a directory',
  ENOTDIR: 'not a directory',
  EEXIST: 'file already exists',
  ENOTEMPTY: 'directory not empty',
  EINVAL: 'invalid argument',
  ELOOP: 'too many symbolic links encountered',
  ENAMETOOLONG: 'name too long',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EXDEV: 'cross-device link not permitted',
  EBUSY: 'resource busy or locked',
  EMFILE: 'too many open files',
  ENFILE: 'file table overflow',
  ENXIO: 'no such device or address',
  EFBIG: 'file too large',
  EIO: 'i/o error',
};

/** A Node-style error of `syscall` on the user's path(s), with errno `code`. */
export function errnoError(code: string, syscall: string, paths: readonly string[]): SandboxFacingError {
  const where = paths.map((p) => `'${showPath(p)}'`).join(' -> ');
  return new SandboxFacingError(
    'Error',
    `${code}: ${DESCRIPTIONS[code] ?? 'operation failed'}, ${syscall} ${where}`,
    code,
  );
}

/**
 * What user code sees of a failure of `syscall` on `paths`. Errors already meant for user code
 * (SandboxFacingError, policy errors) pass unchanged; a Node file-system error is re-created
 * from its code alone, because its message quotes the real path; anything else is rethrown as it
 * is, so the sandbox reports it as an internal failure.
 */
export function toFsError(err: unknown, syscall: string, paths: readonly string[]): unknown {
  if (err instanceof SandboxFacingError || isMcpv8Error(err)) return err;
  let code = errnoCode(err);
  // fs.rm of a directory without `recursive` fails with Node's own code.
  if (code === 'ERR_FS_EISDIR') code = 'EISDIR';
  if (code === undefined || !/^E[A-Z0-9]+$/.test(code)) return err;
  return errnoError(code, syscall, paths);
}

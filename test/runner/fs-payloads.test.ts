// The fs host-call payloads come from hostile code: one strict shape per op, nothing else.
import { describe, expect, it } from 'vitest';
import { FS_OPS, isFsOp, parseFsPayload, type FsOp } from '../../src/runner/host/fs-payloads.ts';

describe('fs payloads', () => {
  it.each<[FsOp, unknown]>([
    ['fs.readFile', { path: '/a', encoding: 'utf8' }],
    ['fs.readFile', { path: '/a', encoding: 'buffer' }],
    ['fs.writeFile', { path: '/a', data: { text: 'x' } }],
    ['fs.writeFile', { path: '/a', data: { base64: 'AAEC/w==' } }],
    ['fs.appendFile', { path: '/a', data: { staged: 3 } }],
    ['fs.readdir', { path: '/a' }],
    ['fs.stat', { path: '/a' }],
    ['fs.exists', { path: '/a' }],
    ['fs.mkdir', { path: '/a', recursive: true }],
    ['fs.rm', { path: '/a', recursive: false, force: true }],
    ['fs.rename', { from: '/a', to: '/b' }],
    ['fs.copyFile', { from: '/a', to: '/b' }],
    ['fs.stage', { chunk: { text: 'x' } }],
    ['fs.stage', { id: 1, chunk: { base64: '' } }],
  ])('accepts %s %j', (op, payload) => {
    expect(parseFsPayload(op, JSON.stringify(payload))).toEqual(payload);
  });

  it.each<[FsOp, string]>([
    ['fs.readFile', '{"path":"/a"}'],
    ['fs.readFile', '{"path":"/a","encoding":"latin1"}'],
    ['fs.readFile', '{"path":42,"encoding":"utf8"}'],
    ['fs.readFile', '{"path":"/a","encoding":"utf8","extra":1}'],
    ['fs.writeFile', '{"path":"/a","data":"plain string"}'],
    ['fs.writeFile', '{"path":"/a","data":{"base64":"not base64!"}}'],
    ['fs.writeFile', '{"path":"/a","data":{"base64":"AAE"}}'],
    ['fs.writeFile', '{"path":"/a","data":{"text":"x","base64":"AA=="}}'],
    ['fs.writeFile', '{"path":"/a","data":{"staged":0}}'],
    ['fs.mkdir', '{"path":"/a","recursive":"yes"}'],
    ['fs.rm', '{"path":"/a","recursive":true}'],
    ['fs.rename', '{"from":"/a"}'],
    ['fs.stat', '{"path":"' + '/a'.repeat(3000) + '"}'],
    ['fs.stat', 'not json'],
    ['fs.stat', 'null'],
    ['fs.stage', '{"id":1.5,"chunk":{"text":"x"}}'],
  ])('refuses %s %s with a TypeError', (op, payload) => {
    expect(() => parseFsPayload(op, payload)).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }),
    );
  });

  it('knows its ops and no others', () => {
    expect(FS_OPS).toContain('fs.readFile');
    expect(isFsOp('fs.copyFile')).toBe(true);
    expect(isFsOp('fs.symlink')).toBe(false);
    expect(isFsOp('toString')).toBe(false);
    expect(isFsOp('fetch')).toBe(false);
  });
});

/**
 * The project's container images as the real node runs them: built from Dockerfile.runner and
 * Dockerfile.gateway by scripts/images/build.sh (daemonless, cached per machine by content) and
 * handed over as OCI archives with their names.
 */
import { fileURLToPath } from 'node:url';
import { runKeyValueScript } from '../binaries.ts';

export interface ImageArchive {
  /** Full image reference, as pods name it (`imagePullPolicy: Never`). */
  name: string;
  /** OCI archive to import. */
  archive: string;
}

export interface ProjectImages {
  runner: ImageArchive;
  gateway: ImageArchive;
  /** containerd's sandbox image. */
  pause: ImageArchive;
}

const BUILD = fileURLToPath(new URL('../../../scripts/images/build.sh', import.meta.url));

/** Builds the images (a warm cache answers in seconds) and returns their names and archives. */
export async function projectImages(): Promise<ProjectImages> {
  const vars = await runKeyValueScript(BUILD);
  const image = (key: string): ImageArchive => {
    const name = vars[`${key}_IMAGE`];
    const archive = vars[`${key}_IMAGE_ARCHIVE`];
    if (!name || !archive)
      throw new Error(`scripts/images/build.sh did not print ${key}_IMAGE and ${key}_IMAGE_ARCHIVE`);
    return { name, archive };
  };
  return { runner: image('RUNNER'), gateway: image('GATEWAY'), pause: image('PAUSE') };
}

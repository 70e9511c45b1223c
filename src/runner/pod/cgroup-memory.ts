/**
 * The memory a pod's runner is charged for, as its kernel limit counts it: the working set of the
 * container's memory cgroup (usage minus inactive file pages, which the kernel reclaims before it
 * OOM-kills; the kubelet's own definition). Process RSS is the wrong measure in a pod: it counts
 * the Node binary's file pages, which were charged to whoever read them first (containerd, when it
 * unpacked the image), and misses the page cache the container's files use. Measured with the
 * runner image: an idle runner is ~69 MiB RSS but ~21 MiB charged to its cgroup.
 */
import { readFileSync } from 'node:fs';

/** cgroup v2 (unified) files, then v1's memory hierarchy, as runc mounts them in a container. */
const V2 = {
  usage: '/sys/fs/cgroup/memory.current',
  stat: '/sys/fs/cgroup/memory.stat',
  inactive: 'inactive_file',
};
const V1 = {
  usage: '/sys/fs/cgroup/memory/memory.usage_in_bytes',
  stat: '/sys/fs/cgroup/memory/memory.stat',
  inactive: 'total_inactive_file',
};

/**
 * A reader of the container's working set in bytes, or undefined when this process is not a
 * container's own process (then the caller measures process RSS). Only a container's first process
 * (pid 1 of its pid namespace, as the runner image's entrypoint is) can be sure the memory cgroup
 * mounted at /sys/fs/cgroup is its own: elsewhere that is the host's hierarchy, whose root counts
 * the whole machine (a runner pod run as a local process by the fake kubelet, say).
 */
export function cgroupWorkingSet(pid = process.pid): (() => number) | undefined {
  if (pid !== 1) return undefined;
  for (const files of [V2, V1]) {
    const read = () => workingSet(files);
    try {
      if (read() > 0) return () => read() || process.memoryUsage.rss();
    } catch {
      // not this version
    }
  }
  return undefined;
}

/**
 * The memory a pod's runner holds itself to: the container's cgroup working set when it is the
 * container's first process, else the process's own anonymous and shared memory (RssAnon +
 * RssShmem) — what a cgroup is charged for the pages this process itself allocated, without the
 * Node binary's file pages that plain RSS adds (~50 MiB).
 */
export function podResidentBytes(): () => number {
  return cgroupWorkingSet() ?? ownAnonymousBytes;
}

/** RssAnon + RssShmem of this process, bytes (process RSS where /proc cannot tell). */
export function ownAnonymousBytes(): number {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    const bytes = (kb('RssAnon') + kb('RssShmem')) * 1024;
    if (Number.isFinite(bytes) && bytes > 0) return bytes;
  } catch {
    // no /proc
  }
  return process.memoryUsage.rss();
}

function workingSet(files: typeof V1): number {
  const usage = Number(readFileSync(files.usage, 'utf8').trim());
  const stat = readFileSync(files.stat, 'utf8');
  const line = stat.split('\n').find((l) => l.startsWith(`${files.inactive} `));
  const inactive = line ? Number(line.slice(files.inactive.length + 1)) : 0;
  const bytes = usage - inactive;
  return Number.isFinite(bytes) && bytes > 0 ? bytes : 0;
}

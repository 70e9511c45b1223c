// Persistent sessions with heaps in a directory (the default kind of storage).
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sessionsContract } from '../contract/sessions.contract.ts';

sessionsContract('directory', {
  args: (root) => ['--directory-path', join(root, 'heaps')],
  corrupt: async (heap, root) => {
    const shard = join(root, 'heaps', heap.slice(0, 2));
    const file = readdirSync(shard).find((f) => f.startsWith(heap))!;
    writeFileSync(join(shard, file), '{"format":1,"parent":null,"cell":{"code":"var secret = 2;"}}');
  },
});

/**
 * Faults of a full disk, injected for real: a small tmpfs of the test's own (mounting needs
 * root), filled up to a chosen number of free bytes; or, where mounting is refused, a shell
 * prefix that runs a child with a file-size limit (`ulimit -f`, SIGXFSZ ignored, so a write past
 * the limit fails with EFBIG instead of killing the child).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SmallDisk {
  dir: string;
  /** Bytes a new file can still take. */
  free: () => number;
  /** Writes a filler file so that about `leaveBytes` stay free. */
  fill: (leaveBytes: number) => void;
  /** Removes the filler: the disk has room again. */
  unfill: () => void;
  unmount: () => void;
}

/** A fresh tmpfs of `bytes`, or the reason it cannot be had here. */
export function mountSmallDisk(bytes: number): SmallDisk | { refused: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-smalldisk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    return { refused: `mount -t tmpfs refused: ${stderr === undefined || stderr === '' ? String(err) : stderr}` };
  }
  const filler = join(dir, 'filler');
  const free = () => {
    const s = statfsSync(dir);
    return Number(s.bavail) * Number(s.bsize);
  };
  return {
    dir,
    free,
    fill: (leaveBytes) => {
      rmSync(filler, { force: true });
      writeFileSync(filler, Buffer.alloc(Math.max(0, free() - leaveBytes)));
    },
    unfill: () => rmSync(filler, { force: true }),
    unmount: () => {
      // Lazy: a store a failed test left open must not keep the mount (or the run) alive.
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `sh -c` arguments that run `command` (argv) with every file it writes limited to `bytes`
 * (rounded down to 512-byte blocks).
 */
export function fileSizeLimited(bytes: number, command: string[]): string[] {
  const quoted = command.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return ['-c', `trap "" XFSZ; ulimit -f ${Math.floor(bytes / 512)}; exec ${quoted}`];
}

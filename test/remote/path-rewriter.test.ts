import { describe, expect, it } from 'vitest';
import { PathRewriter } from '../../lib/remote/path-rewriter.js';

function rewriteChunks(chunks: string[]): string {
  let output = '';
  const rewriter = new PathRewriter('/srv/base/', '/', (chunk) => (output += chunk.toString()));
  for (const chunk of chunks) rewriter.push(Buffer.from(chunk));
  rewriter.flush();
  return output;
}

describe('PathRewriter', () => {
  it('maps every worker path in one chunk', () => {
    expect(rewriteChunks(['--> /srv/base/home/u/p/src/a.rs and /srv/base/tmp/x\n'])).toBe(
      '--> /home/u/p/src/a.rs and /tmp/x\n',
    );
  });

  it('maps a path split across chunks', () => {
    expect(rewriteChunks(['error at /srv/ba', 'se/home/u/p/lib.rs:3\n'])).toBe('error at /home/u/p/lib.rs:3\n');
  });

  it('keeps text that only starts like the prefix', () => {
    expect(rewriteChunks(['/srv/bas', 'ement/x\n'])).toBe('/srv/basement/x\n');
  });

  it('writes a held-back tail on flush', () => {
    expect(rewriteChunks(['ends with /srv'])).toBe('ends with /srv');
  });

  it('maps paths inside JSON messages', () => {
    const json = '{"src_path":"/srv/base/home/u/p/src/main.rs"}\n';
    expect(rewriteChunks([json.slice(0, 20), json.slice(20)])).toBe('{"src_path":"/home/u/p/src/main.rs"}\n');
  });
});

import { describe, expect, it } from 'vitest';
import { markdownBlocks, renderMarkdown } from './markdown.ts';

describe('answer Markdown', () => {
  it('shows raw HTML as text and drops script URLs', () => {
    const html = renderMarkdown(
      '<script>alert(1)</script> <img src=x onerror="alert(2)"> [a](javascript:alert(3)) [b](JAVASCRIPT:alert(4)) ![c](javascript:alert(5)) <a href="javascript:alert(6)">d</a>',
    );
    expect(html).not.toMatch(/<script|<img|<a href="javascript|onerror="/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('&lt;img src=x onerror=&quot;alert(2)&quot;&gt;');
    expect(html).not.toMatch(/href="javascript/i);
  });

  it('renders ordinary Markdown, links opening elsewhere', () => {
    expect(renderMarkdown('**bold** and [docs](https://example.com)')).toBe(
      '<p><strong>bold</strong> and <a href="https://example.com" target="_blank" rel="noopener noreferrer nofollow">docs</a></p>\n',
    );
  });

  it('splits top-level blocks at blank lines, never inside a code fence', () => {
    expect(markdownBlocks('# Title\n\nFirst line\nsecond line\n\n\n```js\na();\n\nb();\n```\n\nEnd')).toEqual([
      '# Title',
      'First line\nsecond line',
      '```js\na();\n\nb();\n```',
      'End',
    ]);
    expect(markdownBlocks('')).toEqual([]);
  });
});

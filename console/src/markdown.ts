import MarkdownIt from 'markdown-it';

/**
 * Answers are Markdown from a model: rendered with raw HTML off (`<script>`, `<img onerror>` come out
 * as text) and markdown-it's link check (no `javascript:`, `vbscript:`, `file:` or non-image `data:` URLs).
 */
const markdown = new MarkdownIt({ html: false, linkify: true, breaks: false });

const defaultLinkOpen =
  markdown.renderer.rules.link_open ??
  ((tokens, index, options, _env, self) => self.renderToken(tokens, index, options));
markdown.renderer.rules.link_open = (tokens, index, options, env, self) => {
  const token = tokens[index];
  token?.attrSet('target', '_blank');
  token?.attrSet('rel', 'noopener noreferrer nofollow');
  return defaultLinkOpen(tokens, index, options, env, self);
};

export function renderMarkdown(text: string): string {
  return markdown.render(text);
}

/**
 * Top-level blocks of a Markdown text: split at blank lines outside fenced code. A streaming answer
 * re-renders only its last block per frame; the blocks before it keep their DOM.
 */
export function markdownBlocks(text: string): string[] {
  const blocks: string[] = [];
  let current: string[] = [];
  let fence: string | undefined;
  for (const line of text.split('\n')) {
    const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === undefined || (marker[0] === fence[0] && marker.length >= fence.length))) {
      fence = fence === undefined ? marker : undefined;
    }
    if (fence === undefined && line.trim() === '' && current.length > 0) {
      blocks.push(current.join('\n'));
      current = [];
      continue;
    }
    if (line.trim() !== '' || current.length > 0) current.push(line);
  }
  if (current.length > 0) blocks.push(current.join('\n'));
  return blocks;
}

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

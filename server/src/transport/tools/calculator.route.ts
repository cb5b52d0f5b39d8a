import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { AppError, fromZodError } from '../../errors/app-error.ts';
import { readJsonBody, sendJson } from '../http/http-io.ts';

export const calculatorRequestSchema = z.object({ expression: z.string().min(1).max(200) });

/**
 * `POST /tools/calculator {"expression":"12*(3+4)"}` → `{"expression","result"}`: the demo
 * agent's http tool, served by the server itself so the demo works offline. Numbers, + - * / and
 * parentheses only; it never evaluates code.
 */
export async function handleCalculator(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const parsed = calculatorRequestSchema.safeParse(await readJsonBody(request, 4096));
  if (!parsed.success) throw fromZodError(parsed.error);
  const result = evaluate(parsed.data.expression);
  sendJson(response, 200, { expression: parsed.data.expression, result });
}

/** Recursive descent over `expression := term (('+'|'-') term)*`, `term := factor (('*'|'/') factor)*`. */
export function evaluate(expression: string): number {
  const tokens = expression.match(/\d+(?:\.\d+)?|[-+*/()]|\S/g) ?? [];
  let position = 0;
  const fail = (why: string): never => {
    throw new AppError('VALIDATION_ERROR', `expression: ${why}`, { param: 'expression' });
  };
  const peek = () => tokens[position];
  const parseExpression = (): number => {
    let value = parseTerm();
    while (peek() === '+' || peek() === '-')
      value = tokens[position++] === '+' ? value + parseTerm() : value - parseTerm();
    return value;
  };
  const parseTerm = (): number => {
    let value = parseFactor();
    while (peek() === '*' || peek() === '/') {
      const operator = tokens[position++];
      const right = parseFactor();
      if (operator === '/' && right === 0) fail('division by zero');
      value = operator === '*' ? value * right : value / right;
    }
    return value;
  };
  const parseFactor = (): number => {
    const token = tokens[position++];
    if (token === '-') return -parseFactor();
    if (token === '(') {
      const value = parseExpression();
      if (tokens[position++] !== ')') fail('missing ")"');
      return value;
    }
    if (token !== undefined && /^\d/.test(token)) return Number(token);
    return fail(token === undefined ? 'unexpected end' : `unexpected "${token}"`);
  };
  const value = parseExpression();
  if (position < tokens.length) fail(`unexpected "${tokens[position]}"`);
  return Math.round(value * 1e10) / 1e10;
}

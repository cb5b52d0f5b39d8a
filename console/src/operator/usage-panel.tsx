import { useMemo, useState } from 'react';
import type { AdminClient } from '../api.ts';
import { useAsync } from './use-async.ts';

const day = (offsetDays: number) => new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);
const COLORS = ['#4f7cff', '#f5a623', '#34c38f', '#e05d5d', '#9b6bff', '#20b2c8', '#b0803a', '#888'];

type Row = { day: string; botId: string; apiKeyId: string | null; runs: number; totalTokens: number };

/** Every day of the range, with the rows of that day stacked by bot or by key. */
export function stackUsage(
  rows: Row[],
  options: { from: string; to: string; by: 'bot' | 'key'; metric: 'runs' | 'tokens' },
) {
  const days: string[] = [];
  for (let time = Date.parse(options.from); time <= Date.parse(options.to); time += 86_400_000) {
    days.push(new Date(time).toISOString().slice(0, 10));
  }
  const groups = [
    ...new Set(rows.map((row) => (options.by === 'bot' ? row.botId : (row.apiKeyId ?? 'no key')))),
  ].sort();
  const values = new Map<string, number>();
  for (const row of rows) {
    const group = options.by === 'bot' ? row.botId : (row.apiKeyId ?? 'no key');
    const key = `${row.day}|${group}`;
    values.set(key, (values.get(key) ?? 0) + (options.metric === 'runs' ? row.runs : row.totalTokens));
  }
  const totals = days.map((date) => groups.reduce((sum, group) => sum + (values.get(`${date}|${group}`) ?? 0), 0));
  return {
    days,
    groups,
    value: (date: string, group: string) => values.get(`${date}|${group}`) ?? 0,
    max: Math.max(1, ...totals),
  };
}

export function UsagePanel(props: { admin: AdminClient; appId: string }) {
  const [from, setFrom] = useState(day(-13));
  const [to, setTo] = useState(day(0));
  const [by, setBy] = useState<'bot' | 'key'>('bot');
  const [metric, setMetric] = useState<'runs' | 'tokens'>('tokens');
  const usage = useAsync(
    () => props.admin.admin.usage.query({ appId: props.appId, from, to }),
    [props.admin, props.appId, from, to],
  );
  const stacked = useMemo(
    () =>
      usage.value
        ? stackUsage(usage.value.days, { from: usage.value.from, to: usage.value.to, by, metric })
        : undefined,
    [usage.value, by, metric],
  );
  const width = 760;
  const height = 240;
  const left = 48;
  const bottom = 28;
  const plotHeight = height - bottom - 8;
  const slot = stacked ? (width - left) / Math.max(1, stacked.days.length) : 0;
  const totals = usage.value?.days.reduce(
    (sum, row) => ({ runs: sum.runs + row.runs, tokens: sum.tokens + row.totalTokens }),
    { runs: 0, tokens: 0 },
  );

  return (
    <div className="panel">
      <h2>Usage of {props.appId}</h2>
      <div className="inline-form">
        <label>
          from <input type="date" value={from} onChange={(event) => setFrom(event.target.value)} />
        </label>
        <label>
          to <input type="date" value={to} onChange={(event) => setTo(event.target.value)} />
        </label>
        <label>
          by{' '}
          <select value={by} onChange={(event) => setBy(event.target.value as 'bot' | 'key')} data-testid="usage-by">
            <option value="bot">bot</option>
            <option value="key">key</option>
          </select>
        </label>
        <label>
          show{' '}
          <select
            value={metric}
            onChange={(event) => setMetric(event.target.value as 'runs' | 'tokens')}
            data-testid="usage-metric"
          >
            <option value="tokens">tokens</option>
            <option value="runs">runs</option>
          </select>
        </label>
        {totals && (
          <span className="muted">
            {totals.runs} runs · {totals.tokens} tokens in range
          </span>
        )}
      </div>
      {usage.error && <div className="error-text">{usage.error}</div>}
      {stacked && (
        <div
          className="chart"
          data-testid="usage-chart"
          data-days={stacked.days.length}
          data-groups={stacked.groups.join(',')}
        >
          <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`${metric} per day by ${by}`}>
            <line x1={left} y1={8} x2={left} y2={height - bottom} className="axis" />
            <line x1={left} y1={height - bottom} x2={width} y2={height - bottom} className="axis" />
            <text x={left - 6} y={14} textAnchor="end" className="tick">
              {stacked.max}
            </text>
            <text x={left - 6} y={height - bottom} textAnchor="end" className="tick">
              0
            </text>
            {stacked.days.map((date, dayIndex) => {
              let y = height - bottom;
              return (
                <g key={date}>
                  {stacked.groups.map((group, groupIndex) => {
                    const value = stacked.value(date, group);
                    if (value === 0) return null;
                    const barHeight = (value / stacked.max) * plotHeight;
                    y -= barHeight;
                    return (
                      <rect
                        key={group}
                        data-testid="usage-bar"
                        x={left + dayIndex * slot + slot * 0.15}
                        y={y}
                        width={slot * 0.7}
                        height={barHeight}
                        fill={COLORS[groupIndex % COLORS.length]}
                      >
                        <title>{`${date} ${group}: ${value} ${metric}`}</title>
                      </rect>
                    );
                  })}
                  {(dayIndex % Math.ceil(stacked.days.length / 10) === 0 || dayIndex === stacked.days.length - 1) && (
                    <text x={left + dayIndex * slot + slot / 2} y={height - 10} textAnchor="middle" className="tick">
                      {date.slice(5)}
                    </text>
                  )}
                </g>
              );
            })}
          </svg>
          <div className="legend">
            {stacked.groups.map((group, index) => (
              <span key={group}>
                <span className="swatch" style={{ background: COLORS[index % COLORS.length] }} /> {group}
              </span>
            ))}
            {stacked.groups.length === 0 && <span className="muted">No runs in this range.</span>}
          </div>
        </div>
      )}
    </div>
  );
}

/**
 * Prometheus metrics of the MCP front: sessions open, sessions ended by the gateway's bounds,
 * and notifications dropped toward clients that do not read their stream. Read at scrape time.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { McpHttpStats } from './mcp-http-routes.ts';

export function registerMcpMetrics(registry: Registry, stats: () => McpHttpStats): void {
  new Gauge({
    name: 'mcpv8_mcp_sessions',
    help: 'MCP sessions open (Streamable HTTP and legacy SSE)',
    registers: [registry],
    collect() {
      this.set(stats().sessions.open);
    },
  });
  /** A counter that follows a running total kept elsewhere. */
  const follow = (name: string, help: string, read: (s: McpHttpStats) => Record<string, number>) => {
    const seen = new Map<string, number>();
    const labels = Object.keys(read(stats()));
    new Counter({
      name,
      help,
      labelNames: labels.length > 1 ? ['reason'] : [],
      registers: [registry],
      collect() {
        for (const [label, total] of Object.entries(read(stats()))) {
          const delta = total - (seen.get(label) ?? 0);
          seen.set(label, total);
          if (delta <= 0) continue;
          if (labels.length > 1) this.inc({ reason: label }, delta);
          else this.inc(delta);
        }
      },
    });
  };
  follow(
    'mcpv8_mcp_sessions_ended_total',
    'MCP sessions the gateway closed: idle expiry or eviction',
    (s) => ({
      expired: s.sessions.expired,
      evicted: s.sessions.evicted,
    }),
  );
  follow('mcpv8_mcp_sessions_refused_total', 'New MCP sessions refused at a session bound', (s) => ({
    refused: s.sessions.refused,
  }));
  follow(
    'mcpv8_mcp_notifications_dropped_total',
    'Notifications dropped because the client did not read its stream',
    (s) => ({ dropped: s.droppedNotifications }),
  );
  follow(
    'mcpv8_mcp_streams_closed_total',
    'Client streams closed because they held more than twice the stream buffer',
    (s) => ({ closed: s.closedStreams }),
  );
}

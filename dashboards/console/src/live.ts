import { useEffect, useRef } from 'preact/hooks';

export type LiveHandlers = Partial<Record<'presence' | 'telemetry' | 'event' | 'twin' | 'command', (data: unknown) => void>>;

/** Subscribes to GET /api/v1/live (server-sent events) while mounted; EventSource
 * reconnects by itself after a network drop. Handlers may change between renders. */
export function useLive(device: string | undefined, handlers: LiveHandlers): void {
  const ref = useRef(handlers);
  ref.current = handlers;
  useEffect(() => {
    const es = new EventSource(device ? `/api/v1/live?device=${encodeURIComponent(device)}` : '/api/v1/live');
    for (const name of ['presence', 'telemetry', 'event', 'twin', 'command'] as const) {
      es.addEventListener(name, (e) => ref.current[name]?.(JSON.parse((e as MessageEvent<string>).data)));
    }
    es.addEventListener('end', () => {
      es.close();
      window.dispatchEvent(new CustomEvent('yulan:signed-out'));
    });
    return () => es.close();
  }, [device]);
}

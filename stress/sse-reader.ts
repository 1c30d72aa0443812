// Reads a Server-Sent Events body (text/event-stream) into events: the stress CLI's tracker and the
// tests use it where a browser would use EventSource.

/** One event as sent: its id (empty when it had none), type and data. */
export interface SseMessage {
  id: string;
  event: string;
  data: string;
}

/**
 * Calls `onMessage` for each event of `body` until the stream ends, `onMessage` returns true or
 * `signal` aborts (the reader is then cancelled, closing the connection). Comments are skipped.
 */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  onMessage: (message: SseMessage) => boolean | undefined,
  signal?: AbortSignal,
): Promise<void> {
  const reader = body.getReader();
  const cancel = () => void reader.cancel().catch(() => undefined);
  signal?.addEventListener('abort', cancel, { once: true });
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
        const message: SseMessage = { id: '', event: 'message', data: '' };
        const data: string[] = [];
        for (const line of block.split('\n')) {
          const colon = line.indexOf(':');
          if (colon === 0) continue;
          const field = colon === -1 ? line : line.slice(0, colon);
          const text = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data') data.push(text);
          else if (field === 'id') message.id = text;
          else if (field === 'event') message.event = text;
        }
        if (data.length === 0) continue;
        message.data = data.join('\n');
        if (onMessage(message) === true) return;
      }
    }
  } finally {
    signal?.removeEventListener('abort', cancel);
    await reader.cancel().catch(() => undefined);
  }
}

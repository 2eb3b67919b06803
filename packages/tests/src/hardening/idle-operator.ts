/**
 * An operator in its own process: authenticates, subscribes to the event
 * stream, prints READY, then just sits there. Tests SIGSTOP it to get a peer
 * whose kernel still holds the TCP connection open but which answers
 * nothing, the way a suspended laptop or a hung process looks to the gateway.
 */
import WebSocket from 'ws';

const [url, token] = process.argv.slice(2);
const ws = new WebSocket(`${url}?connectionParams=1`);
ws.on('open', () => {
  ws.send(JSON.stringify({ method: 'connectionParams', data: { token } }));
  ws.send(
    JSON.stringify({
      id: 1,
      method: 'subscription',
      params: { path: 'events', input: { json: {} } },
    }),
  );
});
ws.on('message', (data) => {
  const frame = JSON.parse(data.toString()) as { id?: number; result?: { type?: string } };
  if (frame.id === 1 && frame.result?.type === 'started') process.stdout.write('READY\n');
});
ws.on('close', (code) => {
  process.stdout.write(`CLOSED ${code}\n`);
  process.exit(0);
});

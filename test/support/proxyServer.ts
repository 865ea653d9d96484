// An HTTP proxy on loopback for download tests: it tunnels CONNECT requests (undici tunnels every
// proxied request, http or https) and records which host:port each tunnel was asked for.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** A CONNECT proxy on loopback that records the tunnels asked of it; 'refuse' answers 403. */
export async function startProxy(mode: 'tunnel' | 'refuse') {
  const tunnels: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    // Plain (non-CONNECT) proxy requests are not expected: undici tunnels every request.
    tunnels.push(`plain ${req.url}`);
    res.writeHead(405).end();
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    tunnels.push(req.url!);
    sockets.add(client);
    if (mode === 'refuse') {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const [host, port] = req.url!.split(':');
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tunnels,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

// A tiny web app for Aloft: Node.js's own http module, no dependencies. It listens on $PORT
// and answers with a greeting naming the machine and region that served the request.
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8080);
const machine = process.env.FLY_MACHINE_ID ?? 'unknown';
const region = process.env.FLY_REGION ?? 'unknown';
const greeting = process.env.GREETING ?? 'Hello from Aloft';

const server = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`${greeting}! machine ${machine} in region ${region}, Node.js ${process.version}\n`);
});

server.listen(port, () => console.log(`hello-node listening on ${port}`));

// Machines are stopped with SIGTERM (or SIGINT): finish in-flight requests, then exit.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}

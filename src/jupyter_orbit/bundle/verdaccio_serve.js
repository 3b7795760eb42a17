// Child process started by Orbit's npm stand-in (jupyter_orbit/bundle/registries.py):
//   node verdaccio_serve.js VERDACCIO_FOLDER CONFIG_YAML
// Builds verdaccio's server from the config, listens on 127.0.0.1 on a port the kernel picks,
// and prints {"orbit_port": N} once it listens, so the parent never guesses a free port.
'use strict';
const path = require('path');
const [verdaccioDir, config] = process.argv.slice(2);
const { runServer } = require(path.join(verdaccioDir, 'node_modules', 'verdaccio'));
runServer(config).then(
  (server) => {
    server.listen(0, '127.0.0.1', () => {
      process.stdout.write(JSON.stringify({ orbit_port: server.address().port }) + '\n');
    });
  },
  (err) => {
    process.stderr.write(`verdaccio failed to start: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);

// A "module exporting connect" for `--node-module`: every connect() throws, so a test can
// tell that the driver ran this module and not @arrowood.dev/socket.
export const features = ['tcp'];

export function connect() {
  throw new TypeError('connect() from tests/drivers/throwing-module.mjs');
}

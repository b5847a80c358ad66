// uvs's version and the IPVS version it mimics, in a module of their own (control/printers.ts
// re-exports them): uvsd --version answers without loading the printers.

/** The kernel IPVS version ipvsadm reports; uvs mimics it so banner parsers keep working. */
export const IPVS_VERSION = '1.2.1';
/** uvs's own version (package.json's; uvsd-cli.test.ts checks they agree): uvsd -V, uvsadm -v. */
export const UVS_VERSION = '0.1.0';

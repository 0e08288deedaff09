// The one entry point to @peculiar/x509 in meshpeer: importing the library directly skips the Reflect
// shim it needs (see reflect-shim.ts) and fails at load time. The shim import must stay first.
import './reflect-shim.js';

export * from '@peculiar/x509';

// `meshpeer demo`: two peered clusters on loopback. (Being written by the lead.)
import { Command } from 'commander';

export function demoCommand(): Command {
  return new Command('demo').description('Run two peered meshpeer clusters on loopback');
}

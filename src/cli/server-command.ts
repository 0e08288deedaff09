// `meshpeer server`: starts one cluster's control plane. (Being written by the lead.)
import { Command } from 'commander';

export function serverCommand(): Command {
  return new Command('server').description('Run a meshpeer control-plane server');
}

// Which hosts a command inside a lab addresses, checked against the model: a clear refusal for a name it lacks.
import { UserError } from '../model/errors.js';
import { hostsOf, type Lab, type LabHost } from '../model/topology.js';

export function hostNamed(lab: Lab, name: string): LabHost {
  const host = hostsOf(lab).find((h) => h.name === name);
  if (!host)
    throw new UserError(
      `host "${name}" is not in lab ${lab.name} (its hosts: ${hostsOf(lab)
        .map((h) => h.name)
        .join(', ')})`,
    );
  return host;
}

import { EmulatorContext } from './context';
import { EmulatorError, EmulatorRequest, EmulatorResponse, ServiceHandler } from './types';

// STUB: to be implemented (see the emulator brief).
export interface Ec2ServiceOptions {
  detachDelayMs?: number;
}

export class Ec2Service implements ServiceHandler {
  readonly service = 'ec2' as const;
  constructor(
    readonly ctx: EmulatorContext,
    readonly options: Ec2ServiceOptions = {},
  ) {}
  handle(req: EmulatorRequest): EmulatorResponse {
    throw new EmulatorError('InvalidAction', `${req.action} is not implemented by the emulator`);
  }
  snapshot(): unknown {
    return {};
  }
  stop(): void {}
  configure(_input: unknown): void {}
}

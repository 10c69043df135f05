import { EmulatorContext } from './context';
import { EmulatorError, EmulatorRequest, EmulatorResponse, ServiceHandler } from './types';

// STUB: to be implemented (see the emulator brief).
export class AutoScalingService implements ServiceHandler {
  readonly service = 'autoscaling' as const;
  constructor(readonly ctx: EmulatorContext) {}
  handle(req: EmulatorRequest): EmulatorResponse {
    throw new EmulatorError('InvalidAction', `${req.action} is not implemented by the emulator`);
  }
  snapshot(): unknown {
    return {};
  }
  stop(): void {}
  configure(_input: unknown): void {}
}

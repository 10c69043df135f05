import { ServiceName } from './types';

const SQS_READ = new Set(['ReceiveMessage', 'GetQueueAttributes', 'GetQueueUrl', 'ListQueues']);
const S3_READ = new Set(['GetObject', 'HeadObject', 'ListObjectsV2', 'ListObjects', 'HeadBucket']);

/** Whether a call changes state in the account (what dry-run and `plan` must never send). */
export function isMutating(service: ServiceName, action: string): boolean {
  switch (service) {
    case 'imds':
      return false;
    case 'ec2':
    case 'autoscaling':
      return !/^(Describe|List|Get)/.test(action);
    case 'sqs':
      // SendMessage is how tests post notices; it is the producer's call, not the daemon's.
      return !SQS_READ.has(action) && action !== 'SendMessage';
    case 'sns':
      // Publish is how tests (and EventBridge, Auto Scaling) post notices: the producer's call.
      return !/^(List|Get)/.test(action) && action !== 'Publish';
    case 's3':
      return !S3_READ.has(action);
    case 'logs':
      return !/^(Describe|Get|Filter)/.test(action);
  }
}

import { EmulatorResponse, ServiceName } from './types';

export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const IMDS_STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function imdsErrorPage(status: number): EmulatorResponse {
  const title = `${status} - ${IMDS_STATUS_TEXT[status] ?? 'Error'}`;
  const body = `<?xml version="1.0" encoding="iso-8859-1"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
	"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title>${title}</title>
 </head>
 <body>
  <h1>${title}</h1>
 </body>
</html>
`;
  return { status, headers: { 'content-type': 'text/html' }, body };
}

/** SQS's JSON protocol is query-compatible: x-amzn-query-error carries the old Query error code. */
const SQS_QUERY_CODES: Record<string, string> = {
  QueueDoesNotExist: 'AWS.SimpleQueueService.NonExistentQueue',
  MessageNotInflight: 'AWS.SimpleQueueService.MessageNotInflight',
  QueueDeletedRecently: 'AWS.SimpleQueueService.QueueDeletedRecently',
  PurgeQueueInProgress: 'AWS.SimpleQueueService.PurgeQueueInProgress',
  EmptyBatchRequest: 'AWS.SimpleQueueService.EmptyBatchRequest',
  TooManyEntriesInBatchRequest: 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
  BatchEntryIdsNotDistinct: 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct',
  UnsupportedOperation: 'AWS.SimpleQueueService.UnsupportedOperation',
};

/** An AWS error in the wire format of the given service, as real AWS sends it. */
export function renderError(
  service: ServiceName,
  code: string,
  message: string,
  status: number,
  requestId: string,
): EmulatorResponse {
  switch (service) {
    case 'ec2':
      return {
        status,
        headers: { 'content-type': 'text/xml;charset=UTF-8' },
        body: `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`,
      };
    case 'autoscaling':
      return {
        status,
        headers: { 'content-type': 'text/xml' },
        body: `<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>${status >= 500 ? 'Receiver' : 'Sender'}</Type><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
      };
    case 'sns':
      return {
        status,
        headers: { 'content-type': 'text/xml' },
        body: `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>${status >= 500 ? 'Receiver' : 'Sender'}</Type><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
      };
    case 'sqs':
      return {
        status,
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amzn-requestid': requestId,
          'x-amzn-query-error': `${SQS_QUERY_CODES[code] ?? code};${status >= 500 ? 'Receiver' : 'Sender'}`,
        },
        body: JSON.stringify({ __type: `com.amazonaws.sqs#${code}`, message }),
      };
    case 'logs':
      return {
        status,
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': requestId },
        body: JSON.stringify({ __type: code, message }),
      };
    case 's3':
      return {
        status,
        headers: { 'content-type': 'application/xml', 'x-amz-request-id': requestId },
        body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message><RequestId>${requestId}</RequestId></Error>`,
      };
    case 'imds':
      return imdsErrorPage(status);
  }
}

/** The throttling code each service really uses. */
export function throttleCode(service: ServiceName): { code: string; status: number; message: string } {
  switch (service) {
    case 'ec2':
      return { code: 'RequestLimitExceeded', status: 503, message: 'Request limit exceeded.' };
    case 'autoscaling':
      return { code: 'Throttling', status: 400, message: 'Rate exceeded' };
    case 'sqs':
      return { code: 'ThrottlingException', status: 400, message: 'Rate exceeded' };
    case 'sns':
      return { code: 'Throttled', status: 400, message: 'Rate exceeded' };
    case 'logs':
      return { code: 'ThrottlingException', status: 400, message: 'Rate exceeded' };
    case 's3':
      return { code: 'SlowDown', status: 503, message: 'Please reduce your request rate.' };
    case 'imds':
      return { code: 'Throttled', status: 429, message: 'Too Many Requests' };
  }
}

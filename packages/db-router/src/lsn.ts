// WAL positions and read-your-writes tokens: the kernel's (the MES contract's).
export { formatLsn, laterLsn, parseLsn } from '@meskit/kernel';

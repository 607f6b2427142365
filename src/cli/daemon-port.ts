/** The TCP port of multicatcher --daemon, the default on both ends. */
export const DAEMON_PORT = '8731';

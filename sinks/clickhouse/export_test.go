package clickhouse

// SendBlockRows is sendBlockRows, for the external tests.
const SendBlockRows = sendBlockRows

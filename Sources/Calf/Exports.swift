// What a user's `import Calf` brings: the process runtime, durable
// processes, supervision, and the vocabulary of the operator's reports and
// the control protocol, and the journal's coding (`JournalCodable`,
// `ByteWriter`: what `@JournalCoded` writes conformances with). Each layer
// is its own module (see ARCHITECTURE.md); a program imports this one.
@_exported import CalfControl
@_exported import CalfDurable
@_exported import CalfRuntime
@_exported import CalfStore
@_exported import CalfSupervision

// What a user's `import Calf` brings besides the runtime: the vocabulary of
// the operator's reports and the control protocol.
@_exported import CalfControl

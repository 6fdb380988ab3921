import CalfControl
import CalfShell

extension ControlClient {
    /// The result of `request` as JSON text (keys sorted), nil if the node refused it.
    func text(_ request: ControlRequest) throws -> String? {
        guard case .success(let value) = try self.request(request) else { return nil }
        return value.text
    }

    /// Whether the node answered `request` (did not refuse it).
    func succeeds(_ request: ControlRequest) throws -> Bool {
        if case .failure = try self.request(request) { return false }
        return true
    }
}

extension ControlReply {
    /// Whether it is a refusal with `code`.
    func isFailure(_ code: ControlError.Code) -> Bool {
        if case .failure(let error) = self { return error.code == code }
        return false
    }
}

/// The bank's transfer message.
func transfer(from: Int, to: Int, amount: Int = 1) -> JSONValue {
    ["transfer": ["from": .integer(Int64(from)), "to": .integer(Int64(to)), "amount": .integer(Int64(amount))]]
}

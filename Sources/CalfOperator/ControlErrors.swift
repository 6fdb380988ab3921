import Calf
import CalfStore

extension ControlError {
    /// The refusal of a message from outside, with its code.
    init(_ refusal: IngressRefusal) {
        let code: Code = switch refusal {
        case .stopped, .storeFailed, .duplicateCall: .notAccepted
        case .badMessage: .badMessage
        case .notDurable, .notDurableNode: .notDurable
        case .noProcess: .noProcess
        case .quarantined: .quarantined
        case .noDeadLetter: .noDeadLetter
        case .overloaded: .overloaded
        }
        var retryAfter: Int64?
        if case .overloaded(_, let after) = refusal { retryAfter = after.wholeMillisecondsRoundedUp }
        self.init(code, refusal.description, retryAfterMilliseconds: retryAfter)
    }

    /// What the node's own error means to a client, with its code.
    init(_ error: any Error) {
        switch error {
        case let refusal as IngressRefusal:
            self.init(refusal)
        case let durable as DurableError:
            self.init(Self.code(of: durable), durable.description)
        case let call as CallError:
            self.init(Self.code(of: call), call.description)
        case let store as StoreError:
            self.init(.storeFailed, "\(store)")
        case let control as ControlError:
            self = control
        default:
            self.init(.badRequest, "\(error)")
        }
    }

    private static func code(of error: DurableError) -> Code {
        switch error {
        case .notDurableNode, .notDurable: .notDurable
        case .noSuchProcess: .noProcess
        case .quarantined: .quarantined
        case .notAccepted: .notAccepted
        case .historyGone: .historyGone
        case .undecodable, .unencodable, .poisonMessage: .badMessage
        case .tooManySpawns, .tooManyEffects, .tooManyCallbacks, .unknownEffect, .unknownBehavior, .nameTaken, .dataDirectoryInUse, .dataDirectory: .badRequest
        }
    }

    private static func code(of error: CallError) -> Code {
        switch error {
        case .timeout: .timeout
        case .noProcess: .noProcess
        case .exited: .exited
        case .unexpectedReply: .badMessage
        case .notAccepted(let refusal): ControlError(refusal).code
        case .mailboxFull: .overloaded
        }
    }
}

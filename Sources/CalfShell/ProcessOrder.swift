import Calf

/// The orders of `ps`: by pid, or largest first by mailbox, messages
/// handled, memory or restarts.
enum ProcessOrder {
    case pid, mailbox, messages, memory, restarts

    /// The order named `name` (nil name: by pid); nil for an unknown name.
    init?(_ name: String?) {
        switch name {
        case nil, "pid": self = .pid
        case "mailbox": self = .mailbox
        case "msgs": self = .messages
        case "memory": self = .memory
        case "restarts": self = .restarts
        default: return nil
        }
    }

    func sorted(_ reports: [ProcessReport]) -> [ProcessReport] {
        // Each pid parsed once, not in every comparison.
        let byPid = reports.map { (Pid(parsing: $0.pid) ?? Pid(serial: 0), $0) }.sorted { $0.0 < $1.0 }.map(\.1)
        switch self {
        case .pid: return byPid
        case .mailbox: return byPid.sortedStably { $0.mailbox > $1.mailbox }
        case .messages: return byPid.sortedStably { $0.handled > $1.handled }
        case .memory: return byPid.sortedStably { $0.memory > $1.memory }
        case .restarts: return byPid.sortedStably { $0.restarts > $1.restarts }
        }
    }
}

extension Array {
    /// Sorted by `before`, equal elements keeping their order.
    func sortedStably(by before: (Element, Element) -> Bool) -> [Element] {
        enumerated().sorted { before($0.element, $1.element) || (!before($1.element, $0.element) && $0.offset < $1.offset) }.map(\.element)
    }
}

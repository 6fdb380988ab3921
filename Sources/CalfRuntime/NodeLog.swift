import Logging
import CalfControl

/// The node's log (swift-log, label `calf`): problems it handled (a
/// quarantine, a failed commit, a child's crash, a port's stderr line), with
/// the process concerned as metadata (`pid`, `name`, `supervisor`, `child`).
/// A program chooses where it goes with `LoggingSystem.bootstrap`; `calf`'s
/// commands send it to standard error.
public enum NodeLog {
    /// The logger the runtime writes to.
    public static let logger = Logger(label: "calf")
}

/// Logs a problem the node handled, at `level` (warning by default).
package func reportProblem(_ text: String, level: Logger.Level = .warning, _ metadata: Logger.Metadata = [:]) {
    NodeLog.logger.log(level: level, "\(text)", metadata: metadata.isEmpty ? nil : metadata)
}

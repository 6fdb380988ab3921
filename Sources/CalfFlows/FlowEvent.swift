import Calf

/// What a flow's process handles: the events that move its code on, each a
/// journaled message.
///
/// Its large cases are `indirect`: a mailbox slot is as large as the
/// largest event, and every flow that ever took mail keeps its mailbox's
/// slots (`calf bench flows`: bytes per waiting flow).
public enum FlowEvent: Codable, Sendable, EffectCompletionMessage, CallbackMessage {
    /// Runs the code from the top (once: a second start is nothing).
    case start
    /// The timer of step `step` fired (a sleep ended, a wait timed out).
    case timerFired(step: String)
    /// An effect a step asked for ended.
    indirect case effectCompleted(EffectCompletion)
    /// A callback the flow minted was POSTed to.
    indirect case callbackArrived(CallbackArrival)
    /// A signal: taken by the first `receive(name)` waiting, else kept until one asks.
    case signal(name: String, payload: String)
    /// Ends the flow: every step under way fails with `FlowError.cancelled`.
    case cancel
    /// Runs a diverged flow again over its log (after a fix was deployed).
    case resume
    /// A new start of the flow's code that keeps its steps up to number
    /// `toStep` (their results answer the code again) and runs on from
    /// there, asking anew for what came after (Temporal's workflow reset).
    case reset(toStep: Int)
    /// A child flow that step `step` started ended: its output (JSON) or its failure.
    indirect case childEnded(step: String, output: String?, failure: EffectFailure?)
    /// What the `local` step `step` computed (JSON), or how it failed: sent
    /// by the flow to itself in the turn that computed it, journaled with it.
    indirect case localRecorded(step: String, value: String?, failure: EffectFailure?)
}

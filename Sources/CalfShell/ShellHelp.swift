/// The shell's commands, for `help [COMMAND]` and `calf shell --help`.
public enum ShellHelp {
    /// One command: its name, how it is written, what it does.
    public struct Entry: Sendable {
        /// Its name.
        public let name: String
        /// How it is written.
        public let usage: String
        /// What it does.
        public let summary: String
    }

    /// Every command, in the order `help` lists them.
    public static let commands: [Entry] = [
        Entry(name: "send", usage: "send P JSON [--key KEY]", summary: "Sends a message; to a durable process, prints ok (or ok duplicate for a key seen before) once committed; to a transient one, ok once in its mailbox."),
        Entry(name: "call", usage: "call P JSON [--timeout MS]", summary: "Calls a process (durable or transient); prints its reply as JSON."),
        Entry(name: "state", usage: "state P [--at SEQ]", summary: "Its state as JSON; with --at, as it was at that point of the journal, rebuilt by replay without touching it."),
        Entry(name: "ps", usage: "ps [--sort mailbox|msgs|memory|restarts]", summary: "Every process: pid, name, behavior, scheduler, status, mailbox, messages handled, restarts, memory."),
        Entry(name: "info", usage: "info P", summary: "One process, with its links and monitors."),
        Entry(name: "tree", usage: "tree", summary: "The supervision trees, with strategies and restart counts."),
        Entry(name: "mailbox", usage: "mailbox P", summary: "Its pending mail as JSON."),
        Entry(name: "kill", usage: "kill P [REASON]", summary: "Sends an exit signal with REASON (normal, shutdown, or any words); killed when none."),
        Entry(name: "restart", usage: "restart P", summary: "Kills it: a durable process is rebuilt in place by replay, a supervised one restarted."),
        Entry(name: "passivate", usage: "passivate P", summary: "A durable process leaves RAM now (its snapshot committed); it comes back with its next mail, call, timer or command."),
        Entry(name: "suspend", usage: "suspend P", summary: "It takes no turn until resumed; its mail waits."),
        Entry(name: "resume", usage: "resume P", summary: "Lets a suspended process run again."),
        Entry(name: "move", usage: "move P N", summary: "Moves it to scheduler N between its turns, mail, timers and links with it (the balancer may move it on later)."),
        Entry(name: "effects", usage: "effects [P]", summary: "Durable effects under way: attempts, when the next one starts, the last error, the idempotency key."),
        Entry(name: "callbacks", usage: "callbacks [P]", summary: "Callbacks minted: pending, delivered, cancelled or expired, and the POSTs refused as late (410) or conflicting (409)."),
        Entry(name: "flows", usage: "flows", summary: "Every flow: type, version, status, what it waits on (or why it ended or was parked), steps, age."),
        Entry(name: "flow", usage: "flow P [--at STEP | --diff] | flow signal P NAME [JSON] | flow cancel P | flow resume P | flow reset P --to STEP", summary: "A flow's steps (time, kind, what, result, attempts, call site) up to STEP; --diff shows both sides of a divergence; signal, cancel and resume send it those events; reset starts its code again keeping the steps up to STEP."),
        Entry(name: "graph", usage: "graph [G] [--at SEQ] [--json] | graph pause [G] [TASK] | graph resume [G] [TASK]", summary: "A graph's tasks: kind, status, last run (number, start, duration, cause); --at shows it as it was at that point of its journal; pause stops anything of it (or of TASK) from starting until resume."),
        Entry(name: "runs", usage: "runs TASK [--limit N] [--json]", summary: "A task's runs: status, exit, start, duration, input digests, graph version, cause. TASK is NAME, or G/NAME when several graphs run."),
        Entry(name: "log", usage: "log TASK [N]", summary: "A run's output (the latest run, or run N) from its log file, or the tail the journal kept."),
        Entry(name: "run", usage: "run TASK [--key KEY]", summary: "Runs a job now (restarts a daemon), auto or not; with a key, a second run with the same key is refused as a duplicate."),
        Entry(name: "cancel", usage: "cancel TASK", summary: "Stops a task's run under way (its whole process group); it is recorded cancelled."),
        Entry(name: "why", usage: "why TASK [--at SEQ]", summary: "Why a task runs, waits, is blocked or stale, and the chain of runs that caused its latest run."),
        Entry(name: "dead", usage: "dead [P] | dead retry ID", summary: "Dead letters (poison messages set aside) with their errors; retry sends one again, at most once."),
        Entry(name: "journal", usage: "journal P [--from SEQ] [--limit N]", summary: "Its history still in the journal: messages accepted, turns that handled them, lifecycle events."),
        Entry(name: "stats", usage: "stats", summary: "Schedulers (processes, run queue, messages/s), processes by status, the journal's figures."),
        Entry(name: "trace", usage: "trace P [--limit N]", summary: "Streams the messages it takes in and sends out, until Ctrl-C, the limit, or its exit."),
        Entry(name: "top", usage: "top", summary: "A live full-screen view of the busiest processes (messages/s, mailbox); q quits, s changes the order."),
        Entry(name: "names", usage: "names", summary: "Registered names and their pids."),
        Entry(name: "help", usage: "help [COMMAND]", summary: "This list, or one command."),
        Entry(name: "quit", usage: "quit | exit", summary: "Leaves the shell (Ctrl-D too)."),
    ]

    /// The commands' names, in `help`'s order.
    public static var commandNames: [String] { commands.map(\.name) }

    /// The text of `help` (every command) or `help COMMAND`; nil for an unknown command.
    public static func text(for command: String? = nil) -> String? {
        guard let command, !command.isEmpty else {
            let width = commands.map(\.usage.count).max() ?? 0
            let lines = commands.map { $0.usage + String(repeating: " ", count: width - $0.usage.count) + "  " + $0.summary }
            return (lines + ["P is a registered name or a pid (<0.7>, <0.12.0>)."]).joined(separator: "\n")
        }
        guard let entry = commands.first(where: { $0.name == command }) else { return nil }
        return "\(entry.usage)\n  \(entry.summary)"
    }
}

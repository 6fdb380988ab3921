/// A graph of tasks as a graph file declares it (`GraphFile` reads and
/// checks one): named watch sets, and jobs, daemons and workers with their
/// dependencies. Paths are absolute; times are milliseconds.
public struct GraphSpec: Sendable, Equatable, Codable {
    /// Its id: its processes are `ID/graph`, `ID/watch`, `ID/<task>`.
    public var id: String
    /// The directory relative paths start from.
    public var root: String
    /// Ignore patterns (gitignore syntax) added to every watch set.
    public var ignore: [String]
    /// Whether `.gitignore` and `.git/info/exclude` under the root are read too.
    public var gitignore: Bool
    /// Quiet time before a batch of changes counts.
    public var debounce: Int
    /// The longest a batch may wait under constant writes.
    public var maxWait: Int
    /// Jobs running at once.
    public var parallel: Int
    /// Run summaries kept per task.
    public var history: Int
    /// How a `shell:` string runs (the string is appended).
    public var shell: [String]
    /// Added to every command's environment.
    public var environment: [String: String]
    /// The watch sets, in file order.
    public var watches: [WatchSetSpec]
    /// The tasks, in file order.
    public var tasks: [TaskSpec]

    /// The task named `id`.
    public func task(_ id: String) -> TaskSpec? { tasks.first { $0.id == id } }
}

/// A named set of watched paths (an observable).
public struct WatchSetSpec: Sendable, Equatable, Codable {
    /// Its id, named in tasks' `inputs`.
    public var id: String
    /// Directories (watched recursively) and files (watched through their directory), absolute.
    public var paths: [String]
    /// Its own ignore patterns, after the graph's.
    public var ignore: [String]
    /// Its quiet time, when it differs from the graph's.
    public var debounce: Int?
    /// Its cap on a batch, when it differs from the graph's.
    public var maxWait: Int?
    /// Above zero: polled every this many milliseconds instead of watched.
    public var poll: Int
}

/// What kind of task.
public enum TaskKind: String, Sendable, Equatable, Codable {
    /// Runs to completion; success is exit status 0.
    case job
    /// Stays up (a supervised port).
    case daemon
    /// A durable behavior of the node that receives its dependencies' outcomes.
    case worker
}

/// What a job or daemon runs, behind a process boundary.
public enum TaskOperation: Sendable, Equatable, Codable {
    /// An argument vector (the program looked up in PATH).
    case command([String])
    /// A string for the graph's `shell`.
    case shell(String)
    /// A script written to a file and given to its interpreter.
    case script(String, interpreter: [String])
}

/// When a dependency lets its dependent go, and what re-runs it.
public enum DependencyCondition: String, Sendable, Equatable, CaseIterable, Codable {
    /// A job's latest run succeeded (the default on a job).
    case succeeded
    /// A job's latest run finished, whatever its status.
    case completed
    /// A daemon is up and its readiness passed (the default on a daemon).
    case ready
    /// A daemon was spawned.
    case started
    /// No gate: the dependent runs when the daemon exits.
    case exited

    /// The conditions that apply to an upstream of `kind`.
    public static func applying(to kind: TaskKind) -> [DependencyCondition] {
        switch kind {
        case .job: [.succeeded, .completed]
        case .daemon: [.ready, .started, .exited]
        case .worker: []
        }
    }
}

/// One `dependsOn` edge.
public struct TaskDependency: Sendable, Equatable, Codable {
    /// The upstream task.
    public var task: String
    /// When it lets the dependent go.
    public var condition: DependencyCondition
    /// With `succeeded`: cascade only when the upstream's outputs digest changed.
    public var cutoffOnOutputs: Bool
    /// With `ready`: re-run the dependent when the daemon restarts.
    public var cascade: Bool
}

/// How a daemon is known to be up.
public enum ReadinessProbe: Sendable, Equatable, Codable {
    /// A line of its output matching this regular expression.
    case line(String)
    /// A TCP connection to this port on 127.0.0.1 succeeds.
    case tcp(Int)
    /// A GET of this URL answers 2xx.
    case http(String)
    /// This command exits 0.
    case exec([String])
    /// This many milliseconds after its start.
    case delay(Int)
}

/// A daemon's readiness check.
public struct ReadinessSpec: Sendable, Equatable, Codable {
    /// What is tried.
    public var probe: ReadinessProbe
    /// Milliseconds between tries.
    public var interval: Int
    /// Milliseconds to wait before the daemon counts as failed to start.
    public var timeout: Int
}

/// A restart delay that grows.
public struct BackoffSpec: Sendable, Equatable, Codable {
    /// The first delay, in milliseconds (doubled each time).
    public var initial: Int
    /// The longest delay, in milliseconds.
    public var maximum: Int

    /// The delay after `count` earlier ones: `initial` doubled `count` times, at most `maximum`.
    public func delay(after count: Int) -> Int {
        min(maximum, initial << min(20, max(0, count)))
    }
}

/// One task of a graph.
public struct TaskSpec: Sendable, Equatable, Codable {
    /// What changes while it runs do.
    public enum OnBusy: String, Sendable, Equatable, CaseIterable, Codable {
        /// One more run after this one, however many changes.
        case queue
        /// The run is cancelled and started again.
        case restart
        /// The change is dropped.
        case ignore
    }
    /// Whether it runs when the graph starts.
    public enum OnStart: String, Sendable, Equatable, CaseIterable, Codable {
        /// When its inputs or definition changed since its last success.
        case ifStale
        /// Every time.
        case always
        /// Only when triggered.
        case never
    }

    /// Its id (unique in the graph).
    public var id: String
    /// Job, daemon or worker.
    public var kind: TaskKind
    /// What it runs (nil for a worker).
    public var operation: TaskOperation?
    /// Its working directory (absolute).
    public var cwd: String
    /// Added to its environment, after the graph's.
    public var environment: [String: String]
    /// Watch sets whose changes trigger it.
    public var inputs: [String]
    /// Paths it writes (never watched; digested for a cutoff), absolute.
    public var outputs: [String]
    /// Its upstream tasks, with their conditions.
    public var dependsOn: [TaskDependency]
    /// False: changes only mark it stale.
    public var auto: Bool
    /// Whether it runs when the graph starts.
    public var onStart: OnStart
    /// What a change while it runs does.
    public var onBusy: OnBusy
    /// Tasks sharing a lock never run at once.
    public var lock: String?
    /// A job's longest run, in milliseconds (nil: none).
    public var timeout: Int?
    /// Between SIGTERM to its process group and SIGKILL, in milliseconds.
    public var killAfter: Int
    /// A failed job's further attempts.
    public var retryAttempts: Int
    /// The delay between them.
    public var retryBackoff: BackoffSpec?
    /// Whether its standard input is a pipe (else /dev/null).
    public var stdinPipe: Bool
    /// A daemon's readiness check (nil: up when started).
    public var ready: ReadinessSpec?
    /// A daemon's signal on an input change instead of a restart.
    public var reload: String?
    /// A daemon's restart policy: permanent, transient or temporary.
    public var restart: String
    /// A daemon's delay between restarts.
    public var backoff: BackoffSpec?
    /// A daemon's crashes allowed within `period` seconds before it is given up
    /// (restarts the graph asks for, after a build or an input change, are not crashes).
    public var intensity: Int
    /// The window of `intensity`, in seconds.
    public var period: Int
    /// A worker's durable behavior.
    public var behavior: String?
    /// A worker's config, as YAML.
    public var config: String?
}

import Config
import Foundation
import Logging
import Proxy
import ServiceLifecycle
import UnixSignals

/// `mesher.yaml` reloaded on SIGHUP and when it changes (checked every second with one `stat`, which
/// follows the symlinks a Kubernetes ConfigMap swaps: no inotify watch to lose). Parsed and validated here,
/// off the event loops; a file that does not load leaves the running config in place with one log line
/// naming file, line and field. What is applied changes no listener, pool or connection.
struct ConfigReloadService: Service {
    /// The file; `nil` when Mesher runs on its defaults (SIGHUP then only says so).
    let path: String?
    /// The file as it was when the running config was read from it (before the start).
    let readAtStart: FileStamp?
    /// Reads the file with what the environment and the flags override, as at the start.
    let load: @Sendable () throws -> MesherConfig
    let running: RunningConfig
    let proxy: ProxyServer
    let logLevel: LogLevelControl
    let signals: UnixSignalsSequence
    let logger: Logger
    static let checkInterval = Duration.seconds(1)

    func run() async {
        let reloader = Reloader(service: self)
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in signals { await reloader.reload(because: "SIGHUP") }
                }
                guard path != nil else { return }
                group.addTask {
                    while (try? await Task.sleep(for: Self.checkInterval)) != nil {
                        await reloader.reloadIfChanged()
                    }
                }
            }
        }
    }

    /// One reload at a time, in the order asked. It remembers the file it last read, so that a file changed
    /// and then signalled is read (and a mistake in it reported) once, whichever comes first.
    actor Reloader {
        let service: ConfigReloadService
        private var lastRead: FileStamp?

        init(service: ConfigReloadService) {
            self.service = service
            lastRead = service.readAtStart
        }

        func reloadIfChanged() async {
            guard let path = service.path, FileStamp(path) != lastRead else { return }
            await reload(because: "file changed")
        }

        func reload(because reason: String) async {
            let logger = service.logger
            guard let path = service.path else {
                return logger.notice(
                    "no config file to reload (running on defaults)", metadata: ["reason": "\(reason)"])
            }
            // Read already (the check found the change before the signal came, or nothing changed): once is enough.
            let stamp = FileStamp(path)
            guard stamp != lastRead else {
                service.running.counted(.unchanged)
                return logger.info("config file unchanged since it was last read", metadata: ["reason": "\(reason)"])
            }
            lastRead = stamp
            let new: MesherConfig
            do {
                new = try service.load()
            } catch {
                service.running.counted(.invalid)
                return logger.error(
                    "config not reloaded, the running one stays",
                    metadata: ["reason": "\(reason)", "error": "\(error)"])
            }
            let old = service.running.current
            let (applied, needRestart) = old.reloading(new)
            if !needRestart.isEmpty {
                logger.warning(
                    "config changes that need a restart were not applied",
                    metadata: ["file": "\(path)", "fields": "\(needRestart.joined(separator: ","))"])
            }
            guard applied != old else {
                service.running.counted(.unchanged)
                return logger.info("config reloaded, nothing to change", metadata: ["reason": "\(reason)"])
            }
            await service.proxy.install(ProxySettings(config: applied).routingRules)
            if applied.log.level != old.log.level, let level = Logger.Level(rawValue: applied.log.level.rawValue) {
                service.logLevel.set(level)
            }
            service.running.replace(applied)
            service.running.counted(.applied)
            logger.notice(
                "config reloaded",
                metadata: [
                    "reason": "\(reason)", "file": "\(path)",
                    "routes": "\(applied.routes.rules.values.reduce(0) { $0 + $1.count })",
                    "services": "\(applied.traffic.policies.services.count)",
                ])
        }
    }
}

/// What tells a changed file from the same: device, inode (a rename or a symlink swap), size and times.
struct FileStamp: Equatable {
    var values: [Int]

    init(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            values = []
            return
        }
        values = [
            Int(info.st_dev), Int(info.st_ino), Int(info.st_size), info.st_mtim.tv_sec, info.st_mtim.tv_nsec,
            info.st_ctim.tv_sec, info.st_ctim.tv_nsec,
        ]
    }
}

import MesherBase
import Yams

/// The containers and volume that injection adds, as the manifests in `deploy/` have them.
enum Containers {
    static let configVolume = "mesher-config"

    static func initStep(_ options: Injector.Options, environment: [(String, String)]) -> Node {
        let mode = options.failOpen ? [("MESHER_CAPTURE_MODE", CaptureMode.nfqueue.rawValue)] : []
        let env = [("MESHER_PROXY_UID", "\(options.proxyUID)")] + mode + environment
        return parse(
            """
            name: mesher-init
            image: \(quoted(options.image))
            env:
            \(env.map { "  - {name: \($0.0), value: \(quoted($0.1))}" }.joined(separator: "\n"))
            securityContext:
              runAsUser: 0
              runAsNonRoot: false
              allowPrivilegeEscalation: false
              capabilities: {drop: [ALL], add: [NET_ADMIN, NET_RAW]}
            """)
    }

    /// The kubelet starts the next container (native sidecar) or the next one in the list (classic, where the
    /// sidecar comes first) only after the postStart hook: `mesher await` holds the app until Mesher serves, so
    /// that its first connections are not refused (fail-open: after 30 s it lets the app start anyway).
    static func sidecar(_ options: Injector.Options, native: Bool) -> Node {
        // The queue reader's one capability, from the binary's file capability: it needs privilege escalation
        // allowed (no_new_privs would ignore file capabilities).
        let capabilities = options.failOpen ? "{drop: [ALL], add: [NET_ADMIN]}" : "{drop: [ALL]}"
        let environment =
            options.failOpen ? "env:\n  - {name: MESHER_CAPTURE_MODE, value: \(CaptureMode.nfqueue.rawValue)}\n" : ""
        return parse(
            """
            name: mesher
            image: \(quoted(options.image))
            \(native ? "restartPolicy: Always" : "")
            command: [/usr/local/bin/mesher, run, --config, /etc/mesher/mesher.yaml]
            lifecycle:
              postStart:
                exec:
                  command: [/usr/local/bin/mesher, await, --timeout, "30", --, "true"]
            \(environment)readinessProbe:
              httpGet: {path: /ready, port: \(MesherDefaults.adminPort)}
              periodSeconds: 2
            securityContext:
              runAsUser: \(options.proxyUID)
              runAsGroup: \(options.proxyUID)
              runAsNonRoot: true
              allowPrivilegeEscalation: \(options.failOpen)
              readOnlyRootFilesystem: true
              capabilities: \(capabilities)
            volumeMounts:
              - {name: \(configVolume), mountPath: /etc/mesher}
            """)
    }

    static func configVolume(_ options: Injector.Options) -> Node {
        parse("name: \(configVolume)\nconfigMap: {name: \(quoted(options.configMap))}")
    }

    /// Built from YAML text: the fixed parts read as they will be written.
    private static func parse(_ yaml: String) -> Node {
        (try? Yams.compose(yaml: yaml)) ?? Node([(Node, Node)]())
    }

    private static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

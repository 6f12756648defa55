import Config
import Discovery
import Logging
import NIOCore

/// The provider side (`service:` in mesher.yaml): the app's instances registered and health-checked.
/// It stops before the proxy drains, so that consumers stop choosing this instance while its
/// connections finish.
struct ProviderService: MesherService {
    let provider: ProviderSide

    func stop() async { provider.stop() }
}

//! A blocking CRI v1 client, as the kubelet speaks it: the generated
//! `k8s-cri` stubs over tonic on containerd's unix socket, driven by a
//! current-thread tokio runtime owned by the client (test code only; oxrun
//! and oxmon have no async runtime).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
pub use k8s_cri::v1 as api;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Channel, Endpoint, Uri};

/// Deadline of one CRI call (StopContainer waits for its grace period).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(90);

/// A connected CRI client.
pub struct CriClient {
    rt: tokio::runtime::Runtime,
    channel: Channel,
}

impl CriClient {
    /// Connects to the CRI server listening on the unix socket `socket`.
    pub fn connect(socket: &Path) -> Result<CriClient, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("building the tokio runtime: {e}"))?;
        let path: PathBuf = socket.to_path_buf();
        let endpoint = Endpoint::try_from("http://[::1]:50051")
            .map_err(|e| format!("CRI endpoint: {e}"))?
            .connect_timeout(Duration::from_secs(5));
        let channel = rt
            .block_on(endpoint.connect_with_connector(tower::service_fn(move |_: Uri| {
                let p = path.clone();
                async move { Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(p).await?)) }
            })))
            .map_err(|e| format!("connecting to CRI at {}: {e}", socket.display()))?;
        Ok(CriClient { rt, channel })
    }

    /// The RuntimeService stub (cheap: shares the channel).
    pub fn runtime(&self) -> RuntimeServiceClient<Channel> {
        RuntimeServiceClient::new(self.channel.clone())
    }

    /// The ImageService stub.
    pub fn images(&self) -> ImageServiceClient<Channel> {
        ImageServiceClient::new(self.channel.clone())
    }

    /// Runs one CRI call to completion; `Err` holds the call's name and the
    /// gRPC status (or the deadline).
    pub fn call<T, F>(&self, what: &str, f: F) -> Result<T, String>
    where
        F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let _guard = self.rt.enter();
        match self.rt.block_on(async { tokio::time::timeout(CALL_TIMEOUT, f).await }) {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(s)) => Err(format!("{what}: {:?}: {}", s.code(), s.message())),
            Err(_) => Err(format!("{what}: no answer within {CALL_TIMEOUT:?}")),
        }
    }
}

/// Calls RuntimeService method `$method` with request `$req` on client `$c`,
/// blocking: `rpc!(c, run_pod_sandbox, req)` is `Result<Response, String>`.
#[macro_export]
macro_rules! rpc {
    ($c:expr, $method:ident, $req:expr) => {{
        let client: &$crate::cri::CriClient = &$c;
        let mut stub = client.runtime();
        let req = $req;
        client.call(stringify!($method), async move { stub.$method(req).await })
    }};
}

/// Like [`rpc!`] for the ImageService.
#[macro_export]
macro_rules! image_rpc {
    ($c:expr, $method:ident, $req:expr) => {{
        let client: &$crate::cri::CriClient = &$c;
        let mut stub = client.images();
        let req = $req;
        client.call(stringify!($method), async move { stub.$method(req).await })
    }};
}

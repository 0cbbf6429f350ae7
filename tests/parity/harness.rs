//! The servers under comparison: the reference and the side playing lamphp, by mode.

use std::path::Path;

use crate::case::Mode;
use crate::lamphp::Lamphp;
use crate::reference::Reference;

/// The ports a side of the comparison answers on, one per mode.
#[derive(Clone, Copy)]
pub struct Ports {
    pub direct: u16,
    pub proxy: u16,
    pub lambda_multi: u16,
    pub lambda_single: u16,
}

impl Ports {
    pub fn of(self, mode: Mode) -> u16 {
        match mode {
            Mode::Direct => self.direct,
            Mode::Proxy => self.proxy,
            Mode::LambdaMulti => self.lambda_multi,
            Mode::LambdaSingle => self.lambda_single,
        }
    }

    /// A reference's ports: its ALB server stands behind the ALB in every other mode.
    fn of_reference(reference: &Reference) -> Ports {
        Ports {
            direct: reference.direct_port,
            proxy: reference.alb_port,
            lambda_multi: reference.alb_port,
            lambda_single: reference.alb_port,
        }
    }
}

/// Everything under comparison: the reference and the side playing lamphp. The guards
/// are held only to be dropped (which stops them) when the suite ends.
pub struct Servers {
    _reference: Reference,
    _twin: Option<Reference>,
    _lamphp: Vec<Lamphp>,
    pub reference: Ports,
    pub lamphp: Ports,
    pub self_check: bool,
}

impl Servers {
    /// With `self_check`, a second reference plays lamphp, which proves the harness and
    /// the cases before `bootstrap serve` exists: only the departures may differ then.
    /// lamphp's four servers start side by side (each waits for its php-fpm).
    pub fn start(root: &Path, self_check: bool) -> Servers {
        let reference = Reference::start(root);
        let ref_ports = Ports::of_reference(&reference);
        let (twin, lamphp, lamphp_ports) = if self_check {
            let twin = Reference::start(root);
            let ports = Ports::of_reference(&twin);
            (Some(twin), Vec::new(), ports)
        } else {
            let (direct, proxy, multi, single) = std::thread::scope(|s| {
                let direct = s.spawn(|| Lamphp::serve(root, &[]));
                let proxy = s.spawn(|| Lamphp::serve(root, &["--trust-proxy", "127.0.0.1/32"]));
                let multi = s.spawn(|| Lamphp::local(root, &[]));
                let single = Lamphp::local(root, &["--single-value"]);
                let join = |h: std::thread::ScopedJoinHandle<Lamphp>| {
                    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
                };
                (join(direct), join(proxy), join(multi), single)
            });
            let ports = Ports {
                direct: direct.port,
                proxy: proxy.port,
                lambda_multi: multi.port,
                lambda_single: single.port,
            };
            (None, vec![direct, proxy, multi, single], ports)
        };
        Servers {
            _reference: reference,
            _twin: twin,
            _lamphp: lamphp,
            reference: ref_ports,
            lamphp: lamphp_ports,
            self_check,
        }
    }
}

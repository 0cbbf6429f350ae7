//! `bootstrap local`: the pieces of AWS a Lambda-mode site needs on a laptop, without
//! Docker; [`alb`] stands in for the Application Load Balancer in front of the function.

pub mod alb;

"""The alerting state machines' configs from the service settings: one function each."""

from __future__ import annotations

from app.alerting.leak import PolicyConfig
from app.alerting.safety import SafetyConfig
from app.config import Settings


def policy_config(s: Settings) -> PolicyConfig:
    """The leak policy's parameters (``GASLEAK_ALERT_*``)."""
    return PolicyConfig(
        raise_p=s.alert_raise_probability,
        raise_n=s.alert_raise_windows,
        raise_min_s=s.alert_raise_min_s,
        raise_span_s=s.alert_raise_span_s,
        clear_p=s.alert_clear_probability,
        clear_n=s.alert_clear_windows,
        critical_p=s.alert_critical_probability,
        critical_gas_ppm=s.alert_critical_gas_ppm,
        escalate_after_s=s.alert_escalate_after_s,
        off_delay_s=s.alert_off_delay_s,
        dense_k=s.alert_dense_high,
        dense_n=s.alert_dense_windows,
        worsen_factor=s.alert_worsen_factor,
        burst_max_windows=s.alert_burst_windows,
        burst_memory_s=s.alert_burst_memory_s,
        chatter_window_s=s.alert_chatter_window_s,
        chatter_off_delay_s=s.alert_chatter_off_delay_s,
    )


def evaluation_policy() -> PolicyConfig:
    """The leak policy the offline evaluation replays (``--mode evaluate``, LODO): the
    service's defaults (the settings' field defaults, no environment read), so an alert
    clears as it does in the service, after the 60 s off-delay. Until 1 Dec the evaluation
    ran without the off-delay (``PolicyConfig()``: a clear after ``clear_n`` windows), and
    a smoke_iot heat run-up (rows 55701-55765) cleared after 16 s and was raised again 27 s
    later: a false alarm counted twice that the service raises once."""
    return policy_config(Settings.model_construct())


def safety_config(s: Settings) -> SafetyConfig:
    """The safety rules' parameters (set points, fault limits, off-delay, latching)."""
    return SafetyConfig(
        low_ppm=s.threshold_low_ppm,
        high_ppm=s.threshold_high_ppm,
        hysteresis=s.threshold_hysteresis,
        off_delay_s=s.alert_off_delay_s,
        latch_critical=s.latch_critical,
        stuck_readings=s.stuck_readings,
        max_rate_per_s=(s.max_gas_rate_ppm_s, s.max_temp_rate_c_s, s.max_rh_rate_pct_s),
        rate_min_span_s=s.rate_min_span_s,
        range_min=(s.gas_range_ppm[0], s.temp_range_c[0], 0.0),
        range_max=(s.gas_range_ppm[1], s.temp_range_c[1], 100.0),
        silent_s=s.silent_s,
        confirm_max_s=s.threshold_confirm_max_s,
        spike_memory_s=s.spike_memory_s,
        chatter_window_s=s.threshold_chatter_window_s,
        chatter_off_delay_s=s.threshold_chatter_off_delay_s,
    )

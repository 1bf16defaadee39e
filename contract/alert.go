package contract

import "time"

// AlertNotification is one notification Alertmanager sent (its webhook
// payload, reduced to what an experiment judges).
type AlertNotification struct {
	Receiver string `json:"receiver"`
	// Status is "firing" or "resolved"; GroupKey identifies the alert group.
	Status   string  `json:"status"`
	GroupKey string  `json:"group_key"`
	Alerts   []Alert `json:"alerts"`
}

// Alert is one alert of a notification.
type Alert struct {
	Name     string            `json:"name"`
	Status   string            `json:"status"`
	Labels   map[string]string `json:"labels"`
	StartsAt time.Time         `json:"starts_at"`
}

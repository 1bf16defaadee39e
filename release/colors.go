package release

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// LabelColor selects one color of a blue-green release: its Deployments
// carry it in their selector and pod template, the Services that route to
// it in their selector.
const LabelColor = "sluice.dev/color"

// The two colors of a blue-green release.
const (
	Blue  = "blue"
	Green = "green"
)

// nextColor is the color a release deploys next to the live one.
func nextColor(live string) string {
	if live == Blue {
		return Green
	}
	return Blue
}

// parts splits manifests into Deployments, Services and the rest.
type parts struct {
	deployments, services, others []*unstructured.Unstructured
}

func split(objs []*unstructured.Unstructured) parts {
	var p parts
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment":
			p.deployments = append(p.deployments, o)
		case "Service":
			p.services = append(p.services, o)
		default:
			p.others = append(p.others, o)
		}
	}
	return p
}

// colorName is a Deployment's name in one color: "hello" → "hello-green".
func colorName(name, color string) string { return name + "-" + color }

// previewName is the Service that routes to the new color before the
// switch, for verify: "hello" → "hello-preview".
func previewName(name string) string { return name + "-preview" }

// coloredDeployment renames d for color and adds the color to its selector
// and pod labels, so both colors run side by side.
func coloredDeployment(d *unstructured.Unstructured, color string) *unstructured.Unstructured {
	c := d.DeepCopy()
	c.SetName(colorName(d.GetName(), color))
	addLabel(c.Object, color, "spec", "selector", "matchLabels")
	addLabel(c.Object, color, "spec", "template", "metadata", "labels")
	return c
}

// routedService is s with its selector narrowed to color; name renames it
// (the preview), and a renamed copy drops the addresses the original holds.
func routedService(s *unstructured.Unstructured, color, name string) *unstructured.Unstructured {
	c := s.DeepCopy()
	if name != s.GetName() {
		c.SetName(name)
		unstructured.RemoveNestedField(c.Object, "spec", "clusterIP")
		unstructured.RemoveNestedField(c.Object, "spec", "clusterIPs")
		if ports, ok, _ := unstructured.NestedSlice(c.Object, "spec", "ports"); ok {
			for _, p := range ports {
				if m, ok := p.(map[string]any); ok {
					delete(m, "nodePort")
				}
			}
			_ = unstructured.SetNestedSlice(c.Object, ports, "spec", "ports")
		}
	}
	addLabel(c.Object, color, "spec", "selector")
	return c
}

func addLabel(obj map[string]any, color string, path ...string) {
	m, _, _ := unstructured.NestedStringMap(obj, path...)
	if m == nil {
		m = map[string]string{}
	}
	m[LabelColor] = color
	_ = unstructured.SetNestedStringMap(obj, m, path...)
}

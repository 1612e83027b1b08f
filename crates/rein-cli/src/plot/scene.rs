//! What a chart is before it is drawn: a [`Scene`] of [`Shape`]s in pixels, which the
//! SVG writer and the PNG rasterizer render the same way.

/// An RGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

/// Where text sits relative to its point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// Left end at the point.
    Start,
    /// Centred.
    Middle,
    /// Right end at the point.
    End,
}

/// One thing to draw, in pixels (y down).
#[derive(Debug, Clone)]
pub enum Shape {
    /// A polyline.
    Line {
        /// Points.
        points: Vec<(f32, f32)>,
        /// Colour.
        color: Rgb,
        /// Stroke width.
        width: f32,
        /// Dash and gap lengths.
        dash: Option<(f32, f32)>,
        /// A name for the SVG element (tests look for it).
        id: Option<&'static str>,
    },
    /// A filled polygon.
    Area {
        /// Points.
        points: Vec<(f32, f32)>,
        /// Colour.
        color: Rgb,
        /// Opacity 0..1.
        opacity: f32,
    },
    /// A rectangle outline or fill.
    Rect {
        /// Left, top, width, height.
        rect: (f32, f32, f32, f32),
        /// Fill colour.
        fill: Option<Rgb>,
        /// Outline colour.
        stroke: Option<Rgb>,
    },
    /// Text; `y` is the baseline.
    Text {
        /// Position.
        at: (f32, f32),
        /// The text.
        text: String,
        /// Font size, px.
        size: f32,
        /// Colour.
        color: Rgb,
        /// Alignment.
        anchor: Anchor,
    },
}

/// A picture: its size and shapes, back to front.
#[derive(Debug, Clone)]
pub struct Scene {
    /// Width, px.
    pub width: u32,
    /// Height, px.
    pub height: u32,
    /// What to draw.
    pub shapes: Vec<Shape>,
}

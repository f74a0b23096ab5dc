"""The node canvas: a QGraphicsScene that mirrors a studio Graph, and the view users work in."""

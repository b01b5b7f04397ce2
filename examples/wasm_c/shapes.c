/*
 * shapes.c: the C half of examples/wasm_c.ts. Builds a list of regular
 * polygons in blocks of the heap JavaScript shares with it, and hands the
 * list's head to JavaScript, which reads the polygons through the heap and
 * frees them. It also takes in a block JavaScript allocated and filled.
 *
 * Built by wasm/c/build.sh (a reactor module: no main, its functions
 * exported), linked with wasm/c/hakmem_malloc.c so that malloc and free are
 * the heap's.
 */

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem_malloc.h"

#define EXPORT(name) __attribute__((export_name(#name)))

/* One polygon of the list. JavaScript reads these fields at these offsets (wasm32: 4-byte pointers). */
typedef struct polygon {
  struct polygon *next; /* offset 0: the next polygon, or NULL */
  uint32_t sides;       /* offset 4 */
  double perimeter;     /* offset 8: as C computed it */
  double *points;       /* offset 16: a block of its own, x and y of each corner */
} polygon;

_Static_assert(offsetof(polygon, next) == 0, "JavaScript reads next at 0");
_Static_assert(offsetof(polygon, sides) == 4, "JavaScript reads sides at 4");
_Static_assert(offsetof(polygon, perimeter) == 8, "JavaScript reads perimeter at 8");
_Static_assert(offsetof(polygon, points) == 16, "JavaScript reads points at 16");
_Static_assert(sizeof(polygon) == 24, "a polygon is 24 bytes");

/* The sum of the edges' lengths, corner to corner and back to the first. */
EXPORT(perimeter_of)
double perimeter_of(const double *points, uint32_t sides) {
  double sum = 0;
  for (uint32_t i = 0; i < sides; i++) {
    uint32_t j = (i + 1) % sides;
    double dx = points[2 * j] - points[2 * i];
    double dy = points[2 * j + 1] - points[2 * i + 1];
    sum += sqrt(dx * dx + dy * dy);
  }
  return sum;
}

/* A polygon node around a points block, which it now owns; NULL when memory is full (the block is then freed). */
EXPORT(polygon_wrap)
polygon *polygon_wrap(double *points, uint32_t sides, polygon *next) {
  polygon *shape = malloc(sizeof(polygon));
  if (shape == NULL) {
    free(points);
    return NULL;
  }
  shape->next = next;
  shape->sides = sides;
  shape->points = points;
  shape->perimeter = perimeter_of(points, sides);
  return shape;
}

/* A list of `count` regular polygons of 3, 4, 5, ... sides on circles of radius 1, 2, 3, ...; NULL when memory is full. */
EXPORT(polygons_build)
polygon *polygons_build(uint32_t count) {
  polygon *head = NULL;
  for (uint32_t k = count; k > 0; k--) {
    uint32_t sides = k + 2;
    double radius = k;
    double *points = malloc(2 * sides * sizeof(double));
    if (points == NULL) return head; /* what was built so far: JavaScript frees it */
    for (uint32_t i = 0; i < sides; i++) {
      double angle = 2 * M_PI * i / sides;
      points[2 * i] = radius * cos(angle);
      points[2 * i + 1] = radius * sin(angle);
    }
    polygon *shape = polygon_wrap(points, sides, head);
    if (shape == NULL) return head;
    head = shape;
  }
  return head;
}

/* Frees a list, its nodes and their points blocks, whoever allocated them. */
EXPORT(polygons_free)
void polygons_free(polygon *head) {
  while (head != NULL) {
    polygon *next = head->next;
    free(head->points);
    free(head);
    head = next;
  }
}
